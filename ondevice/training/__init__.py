"""Sleep-time learning: training sets, trainers, adapter export, evaluation."""
