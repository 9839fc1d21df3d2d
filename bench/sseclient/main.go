// Command sseclient opens many idle legacy SSE streams to one URL, waits
// until each has received its first event (the endpoint), reports "ready"
// and holds them open until it is killed or -hold passes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "SSE URL")
	n := flag.Int("n", 1000, "number of streams")
	parallel := flag.Int("parallel", 100, "streams opened at once")
	hold := flag.Duration("hold", 2*time.Minute, "how long to hold the streams")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1, DisableKeepAlives: true}}
	var opened, failed atomic.Int64
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < *n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			res, err := client.Get(*url)
			if err != nil || res.StatusCode != http.StatusOK {
				failed.Add(1)
				if err == nil {
					res.Body.Close()
				}
				return
			}
			br := bufio.NewReader(res.Body)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					failed.Add(1)
					return
				}
				if strings.HasPrefix(line, "data:") {
					break
				}
			}
			opened.Add(1)
			// Hold the stream; the goroutine parks in the read.
			go func() {
				defer res.Body.Close()
				buf := make([]byte, 512)
				for {
					if _, err := br.Read(buf); err != nil {
						return
					}
				}
			}()
		}()
	}
	wg.Wait()
	fmt.Printf("ready %d failed %d in %v\n", opened.Load(), failed.Load(), time.Since(start).Round(time.Millisecond))
	if failed.Load() > 0 {
		log.Printf("%d streams failed to open", failed.Load())
	}
	os.Stdout.Sync()
	time.Sleep(*hold)
}
