"""GD-WL and Graphormer-GD."""
