"""Services orchestrate the stages (queue, store, media, channels) for one job each."""
