"""SoundBite guardrails as a pulumi-policy pack: rules in `rules`, the pack in `__main__`."""
