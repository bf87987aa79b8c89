"""The contract the splitter, the worker and the CLI share: messages, jobs, settings, limits."""
