//! FIXME(in progress): the in-cluster service of Clu.
