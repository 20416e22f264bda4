"""New labels without retraining first: propose zero-shot, accept into the taxonomy, discover new issues."""
