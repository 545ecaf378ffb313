// A Go program without crypto/tls: discovery lists it as Go with nothing to
// probe instead of passing over it in silence. With "wait" it prints
// "waiting" and runs until its stdin closes.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "wait" {
		fmt.Println("waiting")
		io.Copy(io.Discard, os.Stdin)
		return
	}
	fmt.Println("no TLS here")
}
