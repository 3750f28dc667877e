package main

import "net/http"

// httpMux adapts http.ServeMux to virtual-kubelet's api.ServeMux.
type httpMux struct{ *http.ServeMux }

func newMux() *httpMux { return &httpMux{http.NewServeMux()} }
