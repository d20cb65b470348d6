"""Serving the app to a lab: sign-in configuration, roles, the data root, and the `serve` command.

Plain data and functions, no Streamlit: the app passes in st.secrets and st.user; `python -m dsaii_core
serve` reads the same secrets files itself.
"""

from dsaii_core.server.config import (ADMINS_ENV, DATA_ROOT_ENV, DEFAULT_WORKSPACE, ServerConfig, confine,
                                      default_data_root)
from dsaii_core.server.mounts import filesystem_type, network_filesystem

__all__ = ["ADMINS_ENV", "DATA_ROOT_ENV", "DEFAULT_WORKSPACE", "ServerConfig", "confine", "default_data_root",
           "filesystem_type", "network_filesystem"]
