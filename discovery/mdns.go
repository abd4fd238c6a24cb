package discovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
)

// mDNS, only with Config.MDNS: peers on the local network find each other
// by multicast DNS-SD in the form libp2p uses (service _p2p._udp.local,
// one TXT string "dnsaddr=<full multiaddr>" per address), so Tessera nodes
// also see, and are seen by, other libp2p mDNS implementations. Queries go
// out at start and every Interval; answers to others' queries at most
// once a second. Peers found are dialled like bootstrap peers (announced
// peers and pubsub do the rest).
const (
	mdnsServiceName = "_p2p._udp.local."
	mdnsPort        = 5353
	mdnsTTL         = 120 // seconds, as libp2p
	mdnsMaxPacket   = 9000
	mdnsAnswerEvery = time.Second
)

var mdnsGroup = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: mdnsPort}

type mdnsService struct {
	svc   *Service
	name  string // this host's instance label
	conn  *ipv4.PacketConn
	ifis  []net.Interface
	done  chan struct{}
	wg    sync.WaitGroup
	query []byte

	mu         sync.Mutex
	lastAnswer time.Time
	dialed     map[peer.ID]time.Time
}

// startMDNS joins the mDNS group on every up, multicast-capable interface
// and starts querying and answering.
func startMDNS(s *Service) (*mdnsService, error) {
	var ifis []net.Interface
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("discovery: mdns: %w", err)
	}
	for _, ifi := range all {
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 {
			ifis = append(ifis, ifi)
		}
	}
	if len(ifis) == 0 {
		return nil, errors.New("discovery: mdns: no up, multicast-capable network interface")
	}
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = reuse(fd) })
		return errors.Join(err, serr)
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", mdnsPort))
	if err != nil {
		return nil, fmt.Errorf("discovery: mdns: listen on UDP port %d: %w", mdnsPort, err)
	}
	conn := ipv4.NewPacketConn(pc)
	var joined []net.Interface
	for _, ifi := range ifis {
		if err := conn.JoinGroup(&ifi, &net.UDPAddr{IP: mdnsGroup.IP}); err == nil {
			joined = append(joined, ifi)
		}
	}
	if len(joined) == 0 {
		pc.Close()
		return nil, errors.New("discovery: mdns: could not join the mDNS group on any interface")
	}
	_ = conn.SetMulticastLoopback(true)
	_ = conn.SetMulticastTTL(255)
	m := &mdnsService{svc: s, name: randomLabel(), conn: conn, ifis: joined, done: make(chan struct{}), dialed: map[peer.ID]time.Time{}}
	if m.query, err = mdnsQuery(); err != nil {
		pc.Close()
		return nil, err
	}
	m.wg.Add(2)
	go m.receive()
	go m.querier()
	return m, nil
}

func (m *mdnsService) close() {
	close(m.done)
	m.conn.Close()
	m.wg.Wait()
}

// send multicasts b on every joined interface.
func (m *mdnsService) send(b []byte) {
	for _, ifi := range m.ifis {
		if err := m.conn.SetMulticastInterface(&ifi); err != nil {
			continue
		}
		if _, err := m.conn.WriteTo(b, nil, mdnsGroup); err != nil {
			m.svc.log.Debug("mdns send failed", "interface", ifi.Name, "err", err)
		}
	}
}

func (m *mdnsService) querier() {
	defer m.wg.Done()
	t := time.NewTicker(m.svc.cfg.Interval)
	defer t.Stop()
	for {
		m.send(m.query)
		select {
		case <-m.done:
			return
		case <-t.C:
		}
	}
}

func (m *mdnsService) receive() {
	defer m.wg.Done()
	buf := make([]byte, mdnsMaxPacket)
	for {
		n, _, _, err := m.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		m.handle(buf[:n])
	}
}

// handle answers a query for the service and dials the peers an answer
// names.
func (m *mdnsService) handle(pkt []byte) {
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil {
		return
	}
	if !h.Response {
		qs, err := p.AllQuestions()
		if err != nil {
			return
		}
		for _, q := range qs {
			if strings.EqualFold(q.Name.String(), mdnsServiceName) && (q.Type == dnsmessage.TypePTR || q.Type == dnsmessage.TypeALL) {
				m.answer()
				return
			}
		}
		return
	}
	if err := p.SkipAllQuestions(); err != nil {
		return
	}
	var addrs []ma.Multiaddr
	collect := func(next func() (dnsmessage.ResourceHeader, error), txt func() (dnsmessage.TXTResource, error), skip func() error) bool {
		for {
			rh, err := next()
			if err != nil {
				return errors.Is(err, dnsmessage.ErrSectionDone)
			}
			if rh.Type != dnsmessage.TypeTXT {
				if skip() != nil {
					return false
				}
				continue
			}
			r, err := txt()
			if err != nil {
				return false
			}
			for _, s := range r.TXT {
				if a, ok := strings.CutPrefix(s, "dnsaddr="); ok {
					if mm, err := ma.NewMultiaddr(a); err == nil && len(addrs) < 64 {
						addrs = append(addrs, mm)
					}
				}
			}
		}
	}
	if !collect(p.AnswerHeader, p.TXTResource, p.SkipAnswer) || p.SkipAllAuthorities() != nil {
		return
	}
	collect(p.AdditionalHeader, p.TXTResource, p.SkipAdditional)
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return
	}
	self := m.svc.host.Libp2p().ID()
	now := m.svc.now()
	var todo []peer.AddrInfo
	m.mu.Lock()
	for _, info := range infos {
		if info.ID == self || m.svc.connected(info.ID) || now.Sub(m.dialed[info.ID]) < m.svc.cfg.Interval {
			continue
		}
		m.dialed[info.ID] = now
		todo = append(todo, info)
	}
	if len(m.dialed) > 4*connHighWater {
		clear(m.dialed)
	}
	m.mu.Unlock()
	if len(todo) > 0 {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.svc.dialAll(todo, "mdns")
		}()
	}
}

// answer multicasts this host's record, at most once per mdnsAnswerEvery.
func (m *mdnsService) answer() {
	now := time.Now()
	m.mu.Lock()
	if now.Sub(m.lastAnswer) < mdnsAnswerEvery {
		m.mu.Unlock()
		return
	}
	m.lastAnswer = now
	m.mu.Unlock()
	b, err := m.response()
	if err != nil {
		m.svc.log.Debug("mdns answer", "err", err)
		return
	}
	m.send(b)
}

// response builds the answer: PTR to this instance, then SRV, TXT (one
// dnsaddr string per address) and A records, as libp2p's mDNS expects.
func (m *mdnsService) response() ([]byte, error) {
	svc, err := dnsmessage.NewName(mdnsServiceName)
	if err != nil {
		return nil, err
	}
	inst, err := dnsmessage.NewName(m.name + "." + mdnsServiceName)
	if err != nil {
		return nil, err
	}
	host, err := dnsmessage.NewName(m.name + ".local.")
	if err != nil {
		return nil, err
	}
	var txt []string
	var ips [][4]byte
	port := uint16(4001)
	for _, full := range m.svc.host.Addrs() {
		txt = append(txt, "dnsaddr="+full)
		mm, err := ma.NewMultiaddr(full)
		if err != nil {
			continue
		}
		if v, err := mm.ValueForProtocol(ma.P_IP4); err == nil {
			if ip := net.ParseIP(v).To4(); ip != nil {
				ips = append(ips, [4]byte(ip))
			}
		}
		if v, err := mm.ValueForProtocol(ma.P_TCP); err == nil {
			var p uint16
			if _, err := fmt.Sscan(v, &p); err == nil {
				port = p
			}
		}
	}
	bld := dnsmessage.NewBuilder(make([]byte, 0, 512), dnsmessage.Header{Response: true, Authoritative: true})
	bld.EnableCompression()
	rh := func(name dnsmessage.Name, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: name, Type: typ, Class: dnsmessage.ClassINET, TTL: mdnsTTL}
	}
	if err := bld.StartAnswers(); err != nil {
		return nil, err
	}
	if err := bld.PTRResource(rh(svc, dnsmessage.TypePTR), dnsmessage.PTRResource{PTR: inst}); err != nil {
		return nil, err
	}
	if err := bld.StartAdditionals(); err != nil {
		return nil, err
	}
	if err := bld.SRVResource(rh(inst, dnsmessage.TypeSRV), dnsmessage.SRVResource{Target: host, Port: port}); err != nil {
		return nil, err
	}
	if err := bld.TXTResource(rh(inst, dnsmessage.TypeTXT), dnsmessage.TXTResource{TXT: txt}); err != nil {
		return nil, err
	}
	for _, ip := range ips {
		if err := bld.AResource(rh(host, dnsmessage.TypeA), dnsmessage.AResource{A: ip}); err != nil {
			return nil, err
		}
	}
	return bld.Finish()
}

// mdnsQuery is the PTR question for the service.
func mdnsQuery() ([]byte, error) {
	name, err := dnsmessage.NewName(mdnsServiceName)
	if err != nil {
		return nil, err
	}
	bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{})
	if err := bld.StartQuestions(); err != nil {
		return nil, err
	}
	if err := bld.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	return bld.Finish()
}

// randomLabel is a random DNS label of 32 lowercase letters and digits.
func randomLabel() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
