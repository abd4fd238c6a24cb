package quant_test

import (
	"fmt"
	"math"

	"github.com/tessera-net/tessera/quant"
)

func ExampleDequantize() {
	// One Q8_0 block: float16 scale d = 0.5 (0x3800, little-endian), then
	// 32 int8 quants; value j = qs[j] * d.
	block := make([]byte, quant.Q8_0.BlockBytes())
	block[0], block[1] = 0x00, 0x38
	for j := 0; j < 32; j++ {
		block[2+j] = byte(int8(j - 16))
	}
	values := make([]float32, quant.Q8_0.BlockSize())
	if err := quant.Dequantize(quant.Q8_0, values, block); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(values[:4], values[31])
	// Output: [-8 -7.5 -7 -6.5] 7.5
}

func ExampleQuantize() {
	x := make([]float32, 2*quant.QKK)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) / 10))
	}
	n, _ := quant.Q4_K.RowBytes(len(x))
	buf := make([]byte, n)
	if err := quant.Quantize(quant.Q4_K, buf, x); err != nil {
		fmt.Println(err)
		return
	}
	y := make([]float32, len(x))
	if err := quant.Dequantize(quant.Q4_K, y, buf); err != nil {
		fmt.Println(err)
		return
	}
	var maxErr float64
	for i := range x {
		maxErr = math.Max(maxErr, math.Abs(float64(y[i]-x[i])))
	}
	fmt.Printf("%d values in %d bytes, max error below 0.1: %v\n", len(x), n, maxErr < 0.1)
	// Output: 512 values in 288 bytes, max error below 0.1: true
}
