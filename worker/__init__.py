"""The worker: posts every row of its SQS messages to the API and accounts for each one."""
