"""Qt item models over the store: lists and tables the views show."""
