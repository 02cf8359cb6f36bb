// The Model module: see DESIGN.md. Filled in by its issue.
