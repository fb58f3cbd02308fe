"""EmoLLM model classes: LLaVA's Llama model with whole-clip video and Whisper audio inputs."""
