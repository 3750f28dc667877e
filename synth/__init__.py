"""cdk8s constructs that synthesize the whole order-api stack into dist/."""
