"""Read-model reports: the ops dashboard, Prometheus metrics and the NICE audit."""
