"""AI adapters: the local extractive defaults, OpenAI, Pinecone, and the circuit breakers
and retry helper they share. The SDK-backed modules are imported on demand."""
