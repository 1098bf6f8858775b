"""Pure builders of Kubernetes objects, and one thin API wrapper."""
