"""Long data migrations run by the worker one at a time under Langfuse's lock protocol."""
