"""The scheduler room: ``_scheduled_functions``, ``ctx.scheduler``, the executor and crons."""
