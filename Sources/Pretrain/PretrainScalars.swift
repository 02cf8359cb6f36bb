import Training

extension PretrainProgress {
    /// This step's TensorBoard scalars, named as in `MetricNames.pretrain`.
    public var scalars: [String: Double] {
        var s = ["train/loss": Double(loss), "train/lr": Double(lr), "tir/tokens_per_s": tokensPerSecond]
        if let heldOutLoss { s["val/loss"] = Double(heldOutLoss) }
        return s
    }
}
