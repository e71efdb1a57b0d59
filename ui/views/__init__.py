"""The app's views: chat, memories, learning, settings."""
