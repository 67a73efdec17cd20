# What every xbn-mmdet config runs with (README "Reliability"): training
# stops at the first NaN/inf loss, before it reaches the weights, naming the
# iteration, the loss terms and the last checkpoint (action='skip' drops that
# step's update instead), and checkpoints are written atomically (temporary
# file, then rename), so a kill while saving never corrupts one, and they
# carry the random generators' states, so --resume continues exactly.
# A config that sets its own custom_hooks replaces this list: keep these three.
custom_hooks = [
    dict(type='NonFiniteLossHook', action='stop'),
    dict(type='AtomicCheckpointWritesHook'),
    dict(type='RandomStateHook'),
]
