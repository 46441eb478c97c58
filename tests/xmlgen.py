"""Realistic 数电票 (fully digital invoice) XML for tests and the bench: the element names public
parsers and test fixtures show (there is no published XSD), a signature block, both TaxRate
spellings, red-letter invoices. `invoice_xml(...)` builds one file; `zip_of(...)` a ZIP."""

import io
import itertools
import json
import zipfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

_numbers = itertools.count(1)

SIGNATURE = """  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="SellerSignature">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>
      <ds:Reference URI="">
        <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
        <ds:DigestValue>3q2+7w==</ds:DigestValue>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue>TUlJQmhEQ0NBU21nQXdJQkFnSUlYM2ZHMVhTVWFXd3dDZ1lJS29FY3oxVUJnM1V3</ds:SignatureValue>
    <ds:KeyInfo><ds:X509Data><ds:X509Certificate>TUlJQ0lEQ0NBY2FnQXdJQkFnSUk=</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
  </ds:Signature>
"""


def number() -> str:
    """A fresh 20-digit 数电票 number."""
    return f"2622{next(_numbers):016d}"


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@dataclass
class XLine:
    """One IssuItemInformation; amount_fen is without tax, tax computed at `rate` unless given."""

    item_name: str
    amount_fen: int
    rate: str = "0.06"              # or "6%"
    tax_fen: int | None = None
    quantity: str = "1"
    unit: str = "月"
    spec: str = ""
    tax_code: str = "3040203000000000000"
    line_total: str | None = None   # override TotaltaxIncludedAmount text
    amount_text: str | None = None  # override Amount text

    def tax(self) -> int:
        if self.tax_fen is not None:
            return self.tax_fen
        rate = Decimal(self.rate.rstrip("%")) / (100 if self.rate.endswith("%") else 1)
        return int((Decimal(self.amount_fen) * rate).quantize(Decimal(1), ROUND_HALF_UP))


def gpu(amount_fen: int, **kw) -> XLine:
    return XLine("*信息技术服务*GPU算力租赁服务", amount_fen,
                 **{"spec": "A800 80G", "unit": "卡时", "quantity": "720", **kw})


def storage(amount_fen: int, **kw) -> XLine:
    return XLine("*信息技术服务*对象存储服务", amount_fen, unit="TB·月", **kw)


@dataclass
class XInvoice:
    seller_uscc: str
    buyer_uscc: str
    lines: list[XLine]
    invoice_number: str = field(default_factory=number)
    issue_time: str = "2026-04-30 10:21:33"
    seller_name: str = "大连智算中心有限公司"
    buyer_name: str = "大连算力应用有限公司"
    original: str | None = None      # red-letter: the original's number
    red_reason: str = "销售折让"
    signature: bool = True
    # header overrides (text), for the pitfalls
    total_without_tax: str | None = None
    total_tax: str | None = None
    total_with_tax: str | None = None

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen + line.tax() for line in self.lines)

    @property
    def tax_fen(self) -> int:
        return sum(line.tax() for line in self.lines)

    def xml(self) -> bytes:
        amount = sum(line.amount_fen for line in self.lines)
        tax = self.tax_fen
        items = []
        for line in self.lines:
            unit_price = (Decimal(line.amount_fen) / 100 / Decimal(line.quantity)
                          if Decimal(line.quantity) else Decimal(0))
            line_total = line.line_total or yuan(line.amount_fen + line.tax())
            items.append(f"""    <IssuItemInformation>
      <ItemName>{escape(line.item_name)}</ItemName>
      <SpecMod>{escape(line.spec)}</SpecMod>
      <MeaUnits>{escape(line.unit)}</MeaUnits>
      <Quantity>{line.quantity}</Quantity>
      <UnPrice>{unit_price.quantize(Decimal("0.00000001"))}</UnPrice>
      <Amount>{line.amount_text or yuan(line.amount_fen)}</Amount>
      <TaxRate>{line.rate}</TaxRate>
      <ComTaxAm>{yuan(line.tax())}</ComTaxAm>
      <TotaltaxIncludedAmount>{line_total}</TotaltaxIncludedAmount>
      <TaxClassificationCode>{line.tax_code}</TaxClassificationCode>
    </IssuItemInformation>
""")
        red = ""
        if self.original:
            red = f"""    <SpecificInformation>
      <RedEInvoice>
        <OriginalInvoiceCode>{self.original}</OriginalInvoiceCode>
        <RedReason>{escape(self.red_reason)}</RedReason>
      </RedEInvoice>
    </SpecificInformation>
"""
        total = self.total_with_tax or yuan(amount + tax)
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<EInvoice>
  <Header>
    <EIid>{self.invoice_number}</EIid>
    <EInvoiceTag>SWEI2102</EInvoiceTag>
    <Version>0.1</Version>
    <InherentLabel><EInvoiceType><LabelCode>01</LabelCode><LabelName>增值税专用发票</LabelName></EInvoiceType></InherentLabel>
  </Header>
  <EInvoiceData>
    <SellerInformation>
      <SellerIdNum>{self.seller_uscc}</SellerIdNum>
      <SellerName>{escape(self.seller_name)}</SellerName>
      <SellerAddr>辽宁省大连市高新技术产业园区黄浦路 500 号</SellerAddr>
      <SellerTelNum>0411-84760000</SellerTelNum>
      <SellerBankName>中国银行大连高新园区支行</SellerBankName>
      <SellerBankAccNum>300056789012</SellerBankAccNum>
    </SellerInformation>
    <BuyerInformation>
      <BuyerIdNum>{self.buyer_uscc}</BuyerIdNum>
      <BuyerName>{escape(self.buyer_name)}</BuyerName>
      <BuyerAddr>辽宁省大连市沙河口区数码路 1 号</BuyerAddr>
      <BuyerTelNum>0411-39990000</BuyerTelNum>
      <BuyerBankName>招商银行大连分行</BuyerBankName>
      <BuyerBankAccNum>411900000010101</BuyerBankAccNum>
    </BuyerInformation>
    <BasicInformation>
      <TotalAmWithoutTax>{self.total_without_tax or yuan(amount)}</TotalAmWithoutTax>
      <TotalTaxAm>{self.total_tax or yuan(tax)}</TotalTaxAm>
      <TotalTax-includedAmount>{total}</TotalTax-includedAmount>
      <TotalTax-includedAmountInChinese>（略）</TotalTax-includedAmountInChinese>
      <Drawer>王会计</Drawer>
      <RequestTime>{self.issue_time}</RequestTime>
    </BasicInformation>
{''.join(items)}{red}    <AdditionalInformation><Remark>算力券平台测试</Remark></AdditionalInformation>
  </EInvoiceData>
  <SellerAuthentication><AuthenticationMethods>2</AuthenticationMethods></SellerAuthentication>
  <TaxSupervisionInfo>
    <InvoiceNumber>{self.invoice_number}</InvoiceNumber>
    <IssueTime>{self.issue_time}</IssueTime>
    <TaxBureauCode>12102000000</TaxBureauCode>
    <TaxBureauName>国家税务总局大连市税务局</TaxBureauName>
  </TaxSupervisionInfo>
{SIGNATURE if self.signature else ''}</EInvoice>
""".encode()


def red_letter(original: XInvoice, fraction_lines: list[XLine] | None = None,
               **kw) -> XInvoice:
    """A red-letter invoice reversing `original` in full, or by the negative lines given."""
    lines = fraction_lines or [XLine(line.item_name, -line.amount_fen, rate=line.rate,
                                     tax_fen=-line.tax(), quantity=f"-{line.quantity}",
                                     unit=line.unit, spec=line.spec, tax_code=line.tax_code)
                               for line in original.lines]
    return XInvoice(original.seller_uscc, original.buyer_uscc, lines, original=
                    original.invoice_number, issue_time="2026-06-01 09:00:00", **kw)


def zip_of(files: dict[str, bytes], meta: dict | None = None,
           compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, content in files.items():
            z.writestr(name, content)
        if meta is not None:
            z.writestr("meta.json", json.dumps(meta, ensure_ascii=False))
    return out.getvalue()


def bulk(seller_uscc: str, buyer_usccs: list[str], n: int) -> list[XInvoice]:
    """n invoices alternating buyers, one to three lines (GPU, NPU, storage)."""
    out = []
    for i in range(n):
        lines = [gpu(100_000 + i * 37)]
        if i % 3 == 1:
            lines.append(XLine("*信息技术服务*昇腾NPU算力服务", 55_500 + i, rate="6%",
                               unit="卡时", quantity="100"))
        if i % 3 == 2:
            lines.append(storage(12_000 + i))
        out.append(XInvoice(seller_uscc, buyer_usccs[i % len(buyer_usccs)], lines))
    return out


def declared(content: bytes, encoding: str) -> bytes:
    """The same file declaring another encoding (its bytes unchanged)."""
    return content.replace(b'encoding="UTF-8"', f'encoding="{encoding}"'.encode("latin-1"), 1)
