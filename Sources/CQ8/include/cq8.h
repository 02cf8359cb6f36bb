// q8 blocks: 8-bit weights in blocks of 32 along the input dimension, multiplied by 15-bit activations with
// integer dot products (AVX512-VNNI's vpdpbusd where the CPU has it, AVX2's vpmaddwd where it has AVX2, plain C
// elsewhere: the same values on all three). Used by the decode
// session when it computes with q8 weights (`Q8Matrix` in Tensor).
//
// Weights W [outDim, inDim]: per output feature n and block b of 32 inputs, w[n, k] ~ d[n, b] * q[n, k] + m[n, b]
// with q in 0...255: d = (max - min) / 255 and m = min, or d = max |w| / 127 and m = -128 d where that is closer
// (exact for a Q8_0 block; the first is exact for a Q4_1 block, whose 16 levels are every 17th code). Activations x [rows, inDim]: per row r and
// block b, x[r, k] ~ s[r, b] * v[r, k] with v in -16383...16383 (s = max |x| / 16383), split into bytes
// v = 128 h + l with h in -128...127 and l in 0...127, because vpdpbusd multiplies unsigned by signed bytes
// (the AVX2 kernel keeps v as int16 instead and widens the weights to int16 for vpmaddwd).
// Then, exactly in integers,
//   sum_{k in b} w x ~ s[r, b] * (d[n, b] * (128 sum_k q h + sum_k q l) + m[n, b] * sum_k v).
// (8-bit activations, as llama.cpp uses, lost up to 6% of a block's values beside SmolLM2's outlier features and
// changed its greedy answers; 15 bits cost a second vpdpbusd per quad.)
#ifndef CQ8_H
#define CQ8_H

#include <stdint.h>
#include <stddef.h>

/// Bytes of one (panel, block) of weights: 16 features x 32 inputs as [8 quads][16 features][4 bytes] (the 4
/// bytes are inputs 4t..4t+3 of feature j, one vpdpbusd lane), then d[16] and m[16] as fp32.
#define CQ8_BLOCK_BYTES 640

/// Bytes of one (row, block) of activations: h[32], then l[32]; for CQ8_AVX2, v[32] as int16.
#define CQ8_ROW_BLOCK_BYTES 64

/// The kernels (`kernel` below): CQ8_VNNI only where the CPU has AVX512-VNNI, CQ8_AVX2 where it has AVX2.
/// All three give the same integer sums and the same fp32 operations in the same order: the same bits.
enum { CQ8_PLAIN = 0, CQ8_VNNI = 1, CQ8_AVX2 = 2 };

/// Bytes of the weights of a matrix with `outDim` features and `inDim` inputs: panels of 16 features.
size_t cq8_weight_bytes(int outDim, int inDim);

/// Quantizes W [outDim, inDim] (row-major) into panels panelBegin..<panelEnd of `dst` (features past outDim and
/// inputs past inDim are zero). The same bytes for every kernel.
void cq8_pack_weights(const float *w, int outDim, int inDim, int panelBegin, int panelEnd, uint8_t *dst, int kernel);

/// Quantizes rows 0..<rows of x (row stride lda) into hl [rows4][blocks][64] (zero past inDim and in rows
/// rows..<rows4, rows4 = rows rounded up to 4), s [rows4][blocks] and sv [rows4][blocks] = s * sum of the
/// block's v. `kernel` as the `cq8_linear` that reads them (CQ8_AVX2 stores v as int16 in place of h and l).
void cq8_quantize_rows(const float *x, int lda, int rows, int inDim, int8_t *hl, float *s, float *sv, int kernel);

/// out[r, n] = sum_k W[n, k] x[r, k] + beta * out[r, n] (row stride ldo) for all rows r < rows and the features
/// of panels panelBegin..<panelEnd (n < outDim), from `cq8_pack_weights`'s and `cq8_quantize_rows`'s outputs;
/// beta 0 ignores out's old contents.
void cq8_linear(const uint8_t *w, int outDim, int inDim, int panelBegin, int panelEnd, const int8_t *hl,
                const float *s, const float *sv, int rows, float *out, int ldo, float beta, int kernel);

#endif
