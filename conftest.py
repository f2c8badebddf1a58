"""Registers the K8s reference architectures for the main job (`pytest --arch all --runs 20`).

`pytest_plugins` rather than a bare import: pytest imports the listed module as a plugin of this root conftest,
the documented way for a conftest to pull in code with pytest-facing side effects, and it fails the session with a
clear error if the package cannot be imported. It is allowed here because this is the rootdir's conftest.
"""

pytest_plugins = ['architectures']
