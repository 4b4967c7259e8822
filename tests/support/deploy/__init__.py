"""The deployment tests' readers: templates, kustomize, Dockerfiles, schemas and Pod Security."""
