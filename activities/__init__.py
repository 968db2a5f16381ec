"""Side effects of the pathway: the read-model projection (notifications come later)."""
