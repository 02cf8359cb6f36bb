// The GRPO module: see DESIGN.md. Filled in by its issue.
