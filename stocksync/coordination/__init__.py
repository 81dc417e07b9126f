"""Redis primitives shared by every process: the run lock, live progress counters, the shared
rate limiter and the circuit breaker."""
