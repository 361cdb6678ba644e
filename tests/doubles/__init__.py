"""Transport-level doubles of the cloud APIs the delivery code talks to."""
