"""The run core of pipeline-canary: configuration, models, the runner and the run itself."""
