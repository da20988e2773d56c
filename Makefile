# Placeholder; the VM/CI work replaces it.
test:
	cargo test
