"""What works on any stack, deployed or local: finding it, the dead-letter queue, redrive, the
dashboard's data and page."""
