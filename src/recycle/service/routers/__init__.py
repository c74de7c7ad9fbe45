"""One router per resource: health, models, specs, inference, jobs."""
