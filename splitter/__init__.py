"""The splitter: streams a CSV object from S3 and sends its rows to the work queue."""
