"""Domain code shared by Headrace's components: KFP pipeline-spec model and validation,
run states, domain errors, settings and logging set-up. No I/O beyond reading settings."""
