use super::*;

#[test]
fn arithmetic_on_f32_with_weak_literal() {
    let slots = vec![Col::F32(vec![273.15, 300.0])];
    let inp = Inputs {
        slots: &slots,
        shape: &[2],
        origin: &[0],
        coords: &[],
        n: 2,
    };
    let e = PExpr::Binary {
        op: BinOp::Sub,
        l: Box::new(PExpr::Slot {
            k: 0,
            ty: EType::F32,
        }),
        r: Box::new(PExpr::Lit {
            v: Lit::F(273.15),
            weak: true,
        }),
        opty: EType::F32,
        ty: EType::F32,
    };
    assert_eq!(eval(&e, &inp), Col::F32(vec![0.0, 300.0 - 273.15f32]));
}
