"""The CJ domain: assignments, anchors, batches, essays, comparisons, and the flow that judges them."""
