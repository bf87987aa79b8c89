"""Service limits, each with where the number comes from."""

# SQS SendMessageBatch: "a maximum of 10 messages" per call
# (SQS API Reference, SendMessageBatch).
SQS_SEND_BATCH_MAX_ENTRIES = 10

# SQS SendMessageBatch: the sum of all message bodies may not exceed the queue's
# MaximumMessageSize, at most 1 MiB (SQS Developer Guide, "Amazon SQS message quotas").
SQS_SEND_BATCH_MAX_BYTES = 1_048_576

# SQS MaximumMessageSize when a queue does not say (256 KiB on older queues; moto reports it).
SQS_DEFAULT_MAX_MESSAGE_BYTES = 262_144

# SQS ReceiveMessage: MaxNumberOfMessages is 1 to 10 (SQS API Reference, ReceiveMessage).
SQS_RECEIVE_MAX_MESSAGES = 10

# SQS ReceiveMessage: WaitTimeSeconds (long poll) is 0 to 20 (SQS API Reference).
SQS_LONG_POLL_MAX_SECONDS = 20

# SQS DeleteMessageBatch / ChangeMessageVisibilityBatch: 10 entries a call.
SQS_DELETE_BATCH_MAX_ENTRIES = 10

# SQS visibility timeout: 0 to 43,200 seconds (12 hours) (SQS API Reference).
SQS_MAX_VISIBILITY_TIMEOUT_S = 43_200

# Lambda: a function runs for at most 900 seconds (Lambda quotas).
LAMBDA_MAX_TIMEOUT_S = 900

# SQS event source mapping: the queue's visibility timeout should be at least six times the
# function timeout (Lambda Developer Guide, "Using Lambda with Amazon SQS").
SQS_VISIBILITY_TO_FUNCTION_TIMEOUT_RATIO = 6

# SQS event source mapping: batch size up to 10,000 for standard queues; above 10 it needs a
# MaximumBatchingWindowInSeconds of at least 1 (Lambda Developer Guide).
ESM_MAX_BATCH_SIZE = 10_000

# DynamoDB: TransactWriteItems takes up to 100 actions (DynamoDB quotas).
DYNAMODB_TRANSACT_MAX_ITEMS = 100

# DynamoDB: BatchGetItem reads up to 100 items a call (DynamoDB API Reference, BatchGetItem).
DYNAMODB_BATCH_GET_MAX_KEYS = 100

# DynamoDB: an item is at most 400 KB (DynamoDB quotas).
DYNAMODB_MAX_ITEM_BYTES = 400_000

# S3 multipart upload: every part but the last is at least 5 MiB (S3 User Guide, multipart
# upload limits).
S3_MIN_PART_BYTES = 5 * 1024 * 1024
# S3 multipart upload: at most 10,000 parts (S3 User Guide, multipart upload limits).
S3_MULTIPART_MAX_PARTS = 10_000

# S3 DeleteObjects: up to 1,000 keys a request (S3 API Reference, DeleteObjects).
S3_DELETE_MAX_KEYS = 1000
