// The Sandbox module: see DESIGN.md. Filled in by its issue.
