"""The TC (cls_bpf) dialect of the eBPF backend: the kernel path of multicast with per-copy rewrite."""
