//! OpenFlow codec benchmarks (divan): encode and decode of a typical pipeline flow-mod and of a
//! packet-in carrying an ARP frame. Run with `cargo bench --bench openflow`; divan prints the
//! time per message and the throughput (items/s, one item = one message).

use std::net::Ipv4Addr;

use divan::counter::ItemsCount;
use divan::{Bencher, black_box};
use vlcp::openflow::{
    Action, FieldSlice, FlowMod, Frame, Instruction, Match, Message, NX_IN_PORT, NxAction, Oxm, OxmField,
    PacketIn, PacketInReason, PortNo, TableId,
};

fn main() {
    divan::main();
}

/// An l2output-like flow: 4 match fields, register load, tunnel set-fields, output, resubmit.
fn flow_mod() -> Frame {
    let fm = FlowMod {
        table_id: TableId(7),
        cookie: 0x0007_0000_0000_0042,
        ..FlowMod::add(
            7,
            200,
            Match::new()
                .with(Oxm::reg(5, 17))
                .with(Oxm::reg_masked(7, 0x4000, 0x4000))
                .with(Oxm::eth_dst([0x02, 0, 0, 0, 0, 0x0a]))
                .with(Oxm::in_port(PortNo(3))),
            vec![
                Instruction::ApplyActions(vec![
                    Action::Nx(NxAction::RegLoad {
                        dst: FieldSlice::new(OxmField::reg(6), 0),
                        n_bits: 32,
                        value: 9,
                    }),
                    Action::SetField(Oxm::tun_ipv4_dst(Ipv4Addr::new(198, 18, 0, 2))),
                    Action::SetField(Oxm::tunnel_id(0x1234)),
                    Action::output(PortNo(7)),
                    Action::Nx(NxAction::ResubmitTable { in_port: NX_IN_PORT, table: 9 }),
                ]),
                Instruction::GotoTable(9),
            ],
        )
    };
    Frame::new(0x1234, Message::FlowMod(fm))
}

/// A packet-in of a 60-byte ARP request with in_port and two registers.
fn packet_in() -> Frame {
    let mut data = vec![0xff; 6];
    data.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0x08, 0x06]);
    data.resize(60, 0x5a);
    Frame::new(
        0,
        Message::PacketIn(PacketIn {
            buffer_id: u32::MAX,
            total_len: 60,
            reason: PacketInReason::ACTION,
            table_id: 2,
            cookie: 0x42,
            matches: Match::new()
                .with(Oxm::in_port(PortNo(3)))
                .with(Oxm::reg(4, 5))
                .with(Oxm::reg(7, 0x4000)),
            data,
        }),
    )
}

#[divan::bench]
fn encode_flow_mod(b: Bencher) {
    let frame = flow_mod();
    let mut buf = Vec::with_capacity(256);
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        buf.clear();
        black_box(&frame).encode(&mut buf).unwrap();
        black_box(buf.len())
    });
}

#[divan::bench]
fn decode_flow_mod(b: Bencher) {
    let bytes = flow_mod().to_bytes().unwrap();
    b.counter(ItemsCount::new(1usize)).bench_local(|| Frame::decode(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn encode_packet_in(b: Bencher) {
    let frame = packet_in();
    let mut buf = Vec::with_capacity(256);
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        buf.clear();
        black_box(&frame).encode(&mut buf).unwrap();
        black_box(buf.len())
    });
}

#[divan::bench]
fn decode_packet_in(b: Bencher) {
    let bytes = packet_in().to_bytes().unwrap();
    b.counter(ItemsCount::new(1usize)).bench_local(|| Frame::decode(black_box(&bytes)).unwrap());
}
