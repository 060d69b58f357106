"""One party's orchestration of a computation: the rendezvous, input sharing, the cell's sandbox
and the release, bound to the kernel bridge's mesh. No IPython here."""
