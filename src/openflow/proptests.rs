//! Property tests: `decode(encode(x)) == x` for generated messages, and for arbitrary bytes:
//! decoding never panics and whatever decodes re-encodes to the same bytes.

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn oxm() -> impl Strategy<Value = Oxm> {
    prop_oneof![
        any::<u32>().prop_map(|p| Oxm::in_port(PortNo(p))),
        any::<u16>().prop_map(Oxm::eth_type),
        any::<[u8; 6]>().prop_map(Oxm::eth_dst),
        (any::<[u8; 6]>(), any::<[u8; 6]>()).prop_map(|(v, m)| Oxm::eth_dst_masked(v, m)),
        any::<u32>().prop_map(|a| Oxm::ipv4_dst(a.into())),
        (any::<u32>(), 0u8..=32).prop_map(|(a, p)| Oxm::ipv4_dst_prefix(a.into(), p)),
        any::<u128>().prop_map(|a| Oxm::ipv6_dst(a.into())),
        (0u8..16, any::<u32>()).prop_map(|(n, v)| Oxm::reg(n, v)),
        (0u8..16, any::<u32>(), any::<u32>()).prop_map(|(n, v, m)| Oxm::reg_masked(n, v, m)),
        any::<u64>().prop_map(Oxm::tunnel_id),
        any::<u32>().prop_map(|a| Oxm::tun_ipv4_dst(a.into())),
        (any::<u64>(), any::<u64>()).prop_map(|(v, m)| Oxm::metadata_masked(v, m)),
        (any::<u16>(), any::<u8>(), vec(any::<u8>(), 1..20))
            .prop_map(|(c, f, v)| { Oxm::new(OxmField::new(c & 0x7fff, f, 0), &v) }),
    ]
}

fn field() -> impl Strategy<Value = OxmField> {
    prop_oneof![
        (0u8..16).prop_map(OxmField::reg),
        Just(OxmField::NXM_OF_ETH_SRC),
        Just(OxmField::NXM_NX_TUN_IPV4_DST),
        Just(OxmField::NXM_OF_IN_PORT),
    ]
}

fn slice() -> impl Strategy<Value = FieldSlice> {
    (field(), 0u16..1024).prop_map(|(f, o)| FieldSlice::new(f, o))
}

fn learn() -> impl Strategy<Value = Learn> {
    let spec = prop_oneof![
        (1u16..64, slice(), slice()).prop_map(|(n, s, d)| LearnSpec {
            n_bits: n,
            src: LearnSrc::Field(s),
            dst: LearnDst::Match(d)
        }),
        (1u16..64, slice()).prop_map(|(n, d)| LearnSpec {
            n_bits: n,
            src: LearnSrc::Immediate(vec![0xab; usize::from(n.div_ceil(16)) * 2]),
            dst: LearnDst::Load(d)
        }),
        (1u16..64, slice()).prop_map(|(n, s)| LearnSpec::output_field(s, n)),
    ];
    (any::<(u16, u16, u16, u64, u16, u8)>(), vec(spec, 0..5)).prop_map(
        |((idle, hard, prio, cookie, flags, table), specs)| Learn {
            idle_timeout: idle,
            hard_timeout: hard,
            priority: prio,
            cookie,
            flags,
            table_id: table,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            specs,
        },
    )
}

fn nx_action() -> impl Strategy<Value = NxAction> {
    prop_oneof![
        any::<u16>().prop_map(|p| NxAction::Resubmit { in_port: p }),
        (any::<u16>(), any::<u8>()).prop_map(|(p, t)| NxAction::ResubmitTable { in_port: p, table: t }),
        (1u16..=32, slice(), slice()).prop_map(|(n, s, d)| NxAction::RegMove { n_bits: n, src: s, dst: d }),
        (slice(), 1u16..=64, any::<u64>()).prop_map(|(d, n, v)| NxAction::RegLoad {
            dst: FieldSlice::new(d.field, d.ofs & 0x3ff),
            n_bits: n,
            value: v
        }),
        oxm().prop_map(NxAction::RegLoad2),
        (0usize..4).prop_map(|k| NxAction::Note(vec![7; 6 + 8 * k])),
        learn().prop_map(NxAction::Learn),
        Just(NxAction::DecTtl),
        any::<(u16, u16, u8)>().prop_map(|(m, c, r)| NxAction::Controller {
            max_len: m,
            controller_id: c,
            reason: r
        }),
        any::<(u8, u8, u32)>().prop_map(|(c, n, id)| NxAction::Conjunction { clause: c, n_clauses: n, id }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(p, m)| Action::Output { port: PortNo(p), max_len: m }),
        any::<u32>().prop_map(|g| Action::Group(GroupId(g))),
        any::<u32>().prop_map(Action::SetQueue),
        any::<u16>().prop_map(Action::PushVlan),
        Just(Action::PopVlan),
        Just(Action::DecNwTtl),
        any::<u8>().prop_map(Action::SetNwTtl),
        oxm().prop_map(Action::SetField),
        nx_action().prop_map(Action::Nx),
        (1usize..4).prop_map(|n| {
            let mut raw = vec![0u8; 8 * n];
            raw[1] = 26;
            raw[3] = (8 * n) as u8;
            raw[4] = 0x55;
            Action::Raw(raw)
        }),
    ]
}

fn instruction() -> impl Strategy<Value = Instruction> {
    prop_oneof![
        any::<u8>().prop_map(Instruction::GotoTable),
        any::<(u64, u64)>().prop_map(|(v, m)| Instruction::WriteMetadata { metadata: v, mask: m }),
        vec(action(), 0..4).prop_map(Instruction::ApplyActions),
        vec(action(), 0..4).prop_map(Instruction::WriteActions),
        Just(Instruction::ClearActions),
        any::<u32>().prop_map(Instruction::Meter),
    ]
}

fn matches() -> impl Strategy<Value = Match> {
    vec(oxm(), 0..6).prop_map(|fields| Match { fields })
}

fn flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        any::<(u64, u64, u8, u8, u16, u16, u16, u32)>(),
        any::<(u32, u32, u16)>(),
        matches(),
        vec(instruction(), 0..4),
    )
        .prop_map(|((c, cm, t, cmd, i, h, p, b), (op, og, fl), m, ins)| FlowMod {
            cookie: c,
            cookie_mask: cm,
            table_id: TableId(t),
            command: FlowModCommand(cmd),
            idle_timeout: i,
            hard_timeout: h,
            priority: p,
            buffer_id: b,
            out_port: PortNo(op),
            out_group: GroupId(og),
            flags: fl,
            matches: m,
            instructions: ins,
        })
}

fn port() -> impl Strategy<Value = Port> {
    (any::<u32>(), "[a-z0-9-]{0,15}", any::<[u8; 6]>(), any::<[u32; 8]>()).prop_map(|(no, name, mac, w)| {
        Port {
            config: w[0],
            state: w[1],
            curr: w[2],
            advertised: w[3],
            supported: w[4],
            peer: w[5],
            curr_speed: w[6],
            max_speed: w[7],
            ..Port::new(PortNo(no), &name, mac)
        }
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        flow_mod().prop_map(Message::FlowMod),
        (any::<(u32, u16, u8, u8, u64)>(), matches(), vec(any::<u8>(), 0..100)).prop_map(
            |((b, t, r, tb, c), m, d)| Message::PacketIn(PacketIn {
                buffer_id: b,
                total_len: t,
                reason: PacketInReason(r),
                table_id: tb,
                cookie: c,
                matches: m,
                data: d
            })
        ),
        (any::<u32>(), vec(action(), 0..4), vec(any::<u8>(), 0..100)).prop_map(|(p, a, d)| {
            Message::PacketOut(PacketOut { buffer_id: NO_BUFFER, in_port: PortNo(p), actions: a, data: d })
        }),
        (any::<(u16, u8, u32)>(), vec((any::<(u16, u32, u32)>(), vec(action(), 0..3)), 0..3)).prop_map(
            |((c, t, g), bs)| Message::GroupMod(GroupMod {
                command: GroupModCommand(c),
                group_type: GroupType(t),
                group_id: GroupId(g),
                buckets: bs
                    .into_iter()
                    .map(|((w, wp, wg), a)| Bucket {
                        weight: w,
                        watch_port: PortNo(wp),
                        watch_group: GroupId(wg),
                        actions: a
                    })
                    .collect()
            })
        ),
        (any::<u8>(), port())
            .prop_map(|(r, p)| Message::PortStatus(PortStatus { reason: PortReason(r), port: p })),
        (any::<u16>(), vec(port(), 0..3))
            .prop_map(|(f, ps)| Message::MultipartReply { flags: f, reply: MultipartReply::PortDesc(ps) }),
        (vec((matches(), vec(instruction(), 0..3), any::<(u8, u16, u64)>()), 0..3)).prop_map(|fs| {
            Message::MultipartReply {
                flags: 1,
                reply: MultipartReply::Flow(
                    fs.into_iter()
                        .map(|(m, i, (t, p, c))| FlowStats {
                            table_id: t,
                            priority: p,
                            cookie: c,
                            matches: m,
                            instructions: i,
                            ..FlowStats::default()
                        })
                        .collect(),
                ),
            }
        }),
        matches().prop_map(|m| Message::MultipartRequest(MultipartRequest::Flow(FlowStatsRequest {
            matches: m,
            ..FlowStatsRequest::default()
        }))),
        vec(any::<u8>(), 0..10).prop_map(|v| Message::Hello(Hello::with_versions(&v))),
        (any::<u16>(), any::<u16>(), vec(any::<u8>(), 0..64)).prop_map(|(t, c, d)| {
            Message::Error(ErrorMsg { err_type: ErrorType(t & 0x7fff), code: c, experimenter: None, data: d })
        }),
        vec(any::<u8>(), 0..32).prop_map(Message::EchoRequest),
        any::<(u64, u32, u8, u8, u32, u32)>().prop_map(|(d, b, n, a, c, r)| {
            Message::FeaturesReply(SwitchFeatures {
                datapath_id: d,
                n_buffers: b,
                n_tables: n,
                auxiliary_id: a,
                capabilities: c,
                reserved: r,
            })
        }),
        Just(Message::BarrierRequest),
        (any::<u8>(), vec(any::<u8>(), 0..40))
            .prop_map(|(t, b)| Message::Unknown { msg_type: MsgType(t.saturating_add(100)), body: b }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(msg in message(), xid in any::<u32>()) {
        let frame = Frame::new(xid, msg);
        let bytes = frame.to_bytes().unwrap();
        prop_assert_eq!(frame_len(&bytes).unwrap(), Some(bytes.len()));
        let back = Frame::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &frame);
        prop_assert_eq!(back.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_reencode_exactly(
        ty in 0u8..32, body in vec(any::<u8>(), 0..300), xid in any::<u32>()
    ) {
        let mut bytes = vec![4, ty, 0, 0];
        bytes.extend_from_slice(&xid.to_be_bytes());
        bytes.extend_from_slice(&body);
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        if let Ok(frame) = Frame::decode(&bytes) {
            prop_assert_eq!(frame.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn mutated_flow_mods_never_panic(fm in flow_mod(), pos in any::<usize>(), val in any::<u8>()) {
        let mut bytes = Frame::new(1, Message::FlowMod(fm)).to_bytes().unwrap();
        let i = pos % bytes.len();
        if i >= 4 {
            bytes[i] = val;
            if let Ok(frame) = Frame::decode(&bytes) {
                prop_assert_eq!(frame.to_bytes().unwrap(), bytes);
            }
        }
    }
}
