"""The Jupyter product: the %smpc magics, rich display, a site's session inside its kernel and
its audit log. The only layer that imports IPython and ipywidgets."""
