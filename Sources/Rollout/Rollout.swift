// The Rollout module: see DESIGN.md. Filled in by its issue.
