"""The stack on one machine, imitating AWS: the template reader, the embedded emulator (moto) and
its fixes, the local stack's resources, event source mappings, execution environments and local
CloudWatch. Nothing here is deployed or imported by the Lambda functions."""
