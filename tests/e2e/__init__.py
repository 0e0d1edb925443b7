"""End-to-end tests: the Streamlit app served for real and driven by a headless Chromium."""
