"""Running the pipeline: the one entry point (run_pipeline), crash recovery, the run history, the dbt child."""
