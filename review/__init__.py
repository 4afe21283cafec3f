"""The annotators' web app: browse rejected clips, confirm or override them."""
